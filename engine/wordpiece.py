"""MiniLM's WordPiece tokenizer through the ``tokenizers`` library itself, without transformers.

transformers' ``BertTokenizerFast`` wraps this same Rust tokenizer (the package's ``tokenizer.json``), but importing
transformers takes over a second on 2 cores: every ``alifuse-predict`` and every model load in the viewer paid it
for a tokenizer that loads in 0.05 s. ``WordPieceTokenizer`` offers the calls the project makes of it, with the
same ids, offsets and masks (tested against transformers on generated text).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from engine.errors import AlifuseInputError


class WordPieceTokenizer:
    """``tokenizer(text, ...)`` -> dict of lists, as a fast Hugging Face tokenizer answers for one text."""

    is_fast = True  # character offsets come with every token (encode_ehr needs them)

    def __init__(self, folder: str | Path) -> None:
        path = Path(folder) / "tokenizer.json"
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # noqa: BLE001 - the Rust library raises plain Exceptions
            raise AlifuseInputError(f"{path}: not a readable tokenizer ({exc})") from None
        # the file carries the padding and truncation it was saved with: each call sets its own
        tok.no_padding()
        tok.no_truncation()
        self._tok = tok
        self._lock = threading.Lock()  # padding and truncation are set on the shared object for each call
        config = Path(folder) / "tokenizer_config.json"
        try:  # what transformers cuts and pads to when a call gives no max_length
            self.model_max_length = int(json.loads(config.read_text(encoding="utf-8")).get("model_max_length", 512))
        except (OSError, ValueError, TypeError):
            self.model_max_length = 512
        self.pad_token_id = self._id("[PAD]")
        self.cls_token_id, self.sep_token_id = self._id("[CLS]"), self._id("[SEP]")
        self.mask_token_id, self.unk_token_id = self._id("[MASK]"), self._id("[UNK]")
        self.vocab_size = tok.get_vocab_size()

    def _id(self, token: str) -> int:
        i = self._tok.token_to_id(token)
        if i is None:
            raise AlifuseInputError(f"tokenizer: no {token} token in its vocabulary")
        return i

    def __getstate__(self) -> dict[str, Any]:  # a lock cannot be pickled (spawned workers, deepcopy)
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """[CLS] and [SEP] for one text."""
        return self._tok.post_processor.num_special_tokens_to_add(pair)

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [self._tok.id_to_token(int(i)) for i in ids]

    def __call__(self, text: str, add_special_tokens: bool = True, max_length: int | None = None,
                 truncation: bool = False, padding: bool | str = False, return_offsets_mapping: bool = False,
                 return_special_tokens_mask: bool = False, verbose: bool = True) -> dict[str, Any]:
        """input_ids, token_type_ids, attention_mask (and offset_mapping, special_tokens_mask) of one text.

        ``truncation`` cuts to ``max_length`` tokens (special ones included); ``padding="max_length"`` pads to it;
        without ``max_length`` both use the tokenizer's ``model_max_length`` (512), as transformers does.
        """
        if not isinstance(text, str):
            raise TypeError("WordPieceTokenizer encodes one text (a str) per call")
        cut = {True: True, False: False, "longest_first": True, "do_not_truncate": False}.get(truncation)
        # one text: padding to the longest of the batch is no padding
        pad = {True: False, False: False, "longest": False, "do_not_pad": False, "max_length": True}.get(padding)
        if cut is None or pad is None:
            raise ValueError(f"WordPieceTokenizer: truncation={truncation!r}, padding={padding!r} are not supported")
        length = self.model_max_length if max_length is None else int(max_length)
        tok = self._tok
        with self._lock:
            try:
                if cut:
                    tok.enable_truncation(length)
                if pad:
                    tok.enable_padding(length=length, pad_id=self.pad_token_id, pad_token="[PAD]")
                enc = tok.encode(text, add_special_tokens=add_special_tokens)
            finally:
                tok.no_padding()
                tok.no_truncation()
        out: dict[str, Any] = {"input_ids": list(enc.ids), "token_type_ids": list(enc.type_ids),
                               "attention_mask": list(enc.attention_mask)}
        if return_offsets_mapping:
            out["offset_mapping"] = [tuple(o) for o in enc.offsets]
        if return_special_tokens_mask:
            out["special_tokens_mask"] = list(enc.special_tokens_mask)
        return out
