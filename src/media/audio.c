/* audio.c: placeholder, being written. */
