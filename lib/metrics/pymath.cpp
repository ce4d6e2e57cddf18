// math.fsum for finite inputs: keep non-overlapping partial sums exactly
// (two-sum per partial), then add them from the top with CPython's final
// half-even correction. Reference: J.R. Shewchuk, "Adaptive Precision
// Floating-Point Arithmetic and Fast Robust Geometric Predicates", 1997.
#include "metrics/pymath.h"

#include <cmath>
#include <vector>

namespace mds {

double python_fsum(const double* values, size_t count) {
  std::vector<double> p;
  for (size_t k = 0; k < count; ++k) {
    double x = values[k];
    size_t i = 0;
    for (double y : p) {
      if (std::fabs(x) < std::fabs(y)) std::swap(x, y);
      double hi = x + y;
      double lo = y - (hi - x);
      if (lo != 0.0) p[i++] = lo;
      x = hi;
    }
    p.resize(i);
    p.push_back(x);
  }
  // Sum from the top, stopping once the rounding error becomes non-zero.
  size_t n = p.size();
  double hi = 0.0;
  if (n > 0) {
    hi = p[--n];
    double lo = 0.0;
    while (n > 0) {
      double x = hi;
      double y = p[--n];
      hi = x + y;
      double yr = hi - x;
      lo = y - yr;
      if (lo != 0.0) break;
    }
    // Round half to even when the remaining partials push lo past a halfway case.
    if (n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0))) {
      double y = lo * 2.0;
      double x = hi + y;
      double yr = x - hi;
      if (y == yr) hi = x;
    }
  }
  return hi;
}

}  // namespace mds
