"""FreeSWITCH: Event Socket control (`esl`, `ingress`) and mod_audio_stream media (`stream`)."""
