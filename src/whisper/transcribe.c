/* transcribe.c: placeholder, being written. */
