// Defaults of the TrainableModel contract (see trainable.h).
#include "model/trainable.h"

#include "core/error.h"

namespace mds {

void TrainableModel::distribute(dist::Communicator&, bool) {
  throw_usage("this model ({}) does not support data-parallel training", backend_name());
}

}  // namespace mds
