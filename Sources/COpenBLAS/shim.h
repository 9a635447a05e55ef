#ifndef SHRINK_COPENBLAS_SHIM_H
#define SHRINK_COPENBLAS_SHIM_H
// Swift cannot import C99 _Complex, so LAPACKE's complex types are declared as plain
// structs before lapacke.h sees them; Shrink only calls the real (s/d) routines.
typedef struct { float real, imag; } shrink_complex_float;
typedef struct { double real, imag; } shrink_complex_double;
#define lapack_complex_float shrink_complex_float
#define lapack_complex_double shrink_complex_double
#include <cblas.h>
#include <lapacke.h>
#endif
