"""The semantic cache's engine: what is compared (`scope`, with `history` for the earlier turns of
a conversation), where vectors are searched (`index`), and the check that a near neighbour really
asks the same question (`compare`, turn by turn, with `spelling` and `verify`); `models` loads
the embedding and verification models in the background.

The pipeline stage (after the exact cache) embeds `scope.read_scope(...).turns` (the last user
message, then the turns it depends on), searches the scope's partition of the index, and serves
the best candidate only if, its spelling aligned, every turn's similarity reaches the threshold
and `verify` accepts every turn. See docs/semantic-cache.md.
"""
