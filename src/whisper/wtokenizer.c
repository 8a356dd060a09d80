/* wtokenizer.c: placeholder, being written. */
