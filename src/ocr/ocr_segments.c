/* ocr_segments.c - placeholder while the segment code is written (see ocr_segments.h). */
#include "ocr/ocr_segments.h"
