/* whisper_random.c: placeholder, being written. */
