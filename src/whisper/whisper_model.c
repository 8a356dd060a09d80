/* whisper_model.c: placeholder, being written. */
