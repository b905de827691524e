"""Speech modality: audio decoding and resampling, voice-activity detection, transcription, acoustic emotion."""
