"""Speech and language engines, shared by all calls: STT (Vosk, Whisper), TTS (Piper), LLM (llama.cpp + remote).

Models load once per process and their CPU work runs in threads (vosk, onnxruntime, CTranslate2 and
llama.cpp release the GIL), so the event loop — and with it every call's playout clock — never waits
for a model.
"""
