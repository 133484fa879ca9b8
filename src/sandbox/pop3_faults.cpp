#include "sandbox/pop3_faults.hpp"

namespace popbox::sandbox {

Pop3FaultOutcome Pop3Faults::decide(std::string_view user, Pop3Occasion occasion) const {
  if (user.empty()) return {};
  // Answers from memory (a map look-up under the hub's lock): fine on an
  // event thread, as net::Pop3Hooks asks.
  return decide_pop3(hub_.faults_for_address(user), occasion, random_);
}

net::Pop3Hooks::Login Pop3Faults::on_login(std::string_view user) {
  switch (decide(user, Pop3Occasion::login).login) {
    case Pop3FaultOutcome::Login::temp_failure:
      return Login::temp_failure;
    case Pop3FaultOutcome::Login::in_use:
      return Login::in_use;
    case Pop3FaultOutcome::Login::go_on:
      break;
  }
  return Login::go_on;
}

std::chrono::milliseconds Pop3Faults::reply_delay(std::string_view user) {
  return decide(user, Pop3Occasion::reply).delay;
}

std::optional<std::uint64_t> Pop3Faults::retr_cut(std::string_view user) {
  return decide(user, Pop3Occasion::retr).retr_cut;
}

bool Pop3Faults::refuse_dele(std::string_view user) {
  return decide(user, Pop3Occasion::dele).dele_error;
}

}  // namespace popbox::sandbox
