// Helpers shared by every Communicator (see communicator.h).
#include "dist/communicator.h"

#include <cstring>

#include "core/error.h"

namespace mds::dist {

std::vector<double> all_reduce_host(Communicator& comm, const std::vector<double>& values) {
  const std::string mine(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
  const std::vector<std::string> all = comm.all_gather_bytes(mine);
  std::vector<double> sum(values.size(), 0.0);
  for (size_t q = 0; q < all.size(); ++q) {
    if (all[q].size() != mine.size())
      throw_runtime("all_reduce_host: rank {} sent {} values, rank {} sent {}", q, all[q].size() / sizeof(double),
                    comm.rank(), values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      double v;
      std::memcpy(&v, all[q].data() + i * sizeof(double), sizeof v);
      sum[i] += v;
    }
  }
  return sum;
}

}  // namespace mds::dist
