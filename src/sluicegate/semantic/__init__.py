"""The semantic cache's engine: what is compared (`scope`), where vectors are searched (`index`),
and the check that a near neighbour really asks the same question (`verify`); `models` loads the
embedding and verification models in the background.

The pipeline stage (after the exact cache) embeds `scope.read_scope(...).text`, searches the
scope's partition of the index, and serves the best candidate only if its similarity reaches the
threshold and `verify` accepts it.
"""
