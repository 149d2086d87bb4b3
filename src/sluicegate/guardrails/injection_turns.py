"""Which of a request's texts the prompt-injection rules read, and where each one is.

Only the user's latest turns: those after the last model turn that a user turn follows. The
client sends the whole history every time, so an earlier turn was read when it was new; read
again, one that matched (flagged, or sent before the rules changed) would refuse every later turn
of the conversation. Nothing is lost by it: a client that writes its own history can put anything
in a system or assistant turn, which these rules never read, and an app that keeps the history
had each user turn read when it was sent. A model turn after the last user turn (a prefill) does
not count: the user's turn before it is new.
"""

from __future__ import annotations

from typing import Any

from sluicegate.providers.texts import Text


def latest_user_texts(texts: list[Text]) -> list[Text]:
    """The user's texts after the last assistant text that a user text follows, in order."""
    latest: list[Text] = []
    answered = False
    for text in texts:
        if text.role == "assistant":
            answered = True
        elif text.role == "user":
            if answered:
                latest, answered = [], False
            latest.append(text)
    return latest


def path_of(body: Any, text: Text) -> str | None:
    """Where `text` is in `body`, as OpenAI spells a `param` (`messages[2].content`,
    `messages[0].content[1].text`); None if it is not there."""
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        node, path = stack.pop()
        if node is text.owner:
            key = text.key
            return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)
        if isinstance(node, dict):
            stack.extend((value, f"{path}.{key}" if path else key) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{at}]") for at, value in enumerate(node))
    return None
