"""Signatures of thinking blocks: the server vouches that a block's thinking is what its model
wrote, so a client that sends the block back cannot slip other "thinking" into the prompt.

A signature is HMAC-SHA256, keyed with the server's secret (--thinking-signature-key, or a
random one per process), over a domain tag and the block's exact thinking text; base64url,
unpadded. Verification compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_DOMAIN = b"interleaved-reasoning/thinking/v1\x00"


class ThinkingSigner:
    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the signing key must not be empty")
        self._key = key

    @classmethod
    def from_setting(cls, key: str | None) -> ThinkingSigner:
        return cls(key.encode() if key else secrets.token_bytes(32))

    def sign(self, thinking: str) -> str:
        digest = hmac.new(self._key, _DOMAIN + thinking.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verify(self, thinking: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(thinking), signature)
