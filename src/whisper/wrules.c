/* wrules.c: placeholder, being written. */
