#pragma once
// The Store the configuration asks for ([store] backend).

#include <memory>

#include "config/config.hpp"
#include "store/mailbox.hpp"

namespace popbox::store {

/// The backend `[store] backend` names, set up from `cfg` ([mail] maildir,
/// uidl_format, uidl_adopt_x_uidl for "maildir"). Throws
/// std::runtime_error (or std::invalid_argument) with a message an operator
/// can act on when it cannot be made.
std::shared_ptr<Store> make_store(const config::Config& cfg);

}  // namespace popbox::store
