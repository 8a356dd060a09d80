/* whisper.c: placeholder, being written. */
