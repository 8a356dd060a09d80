/* mel.c: placeholder, being written. */
