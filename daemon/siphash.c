/* siphash.c: placeholder, being written. */
