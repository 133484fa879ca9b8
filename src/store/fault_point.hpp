#pragma once
// Named points inside a backend's commit where the contract tests simulate
// a crash: a fork()ed child sets a hook that _exit()s at one of them, the
// parent then reopens the store and checks that nothing was lost or
// duplicated. Every backend calls the same points:
//   "delivery.visible"  a recipient's message is visible, its count not yet
//   "commit.applied"    a session's DELEs are applied, the count not yet

namespace popbox::store::testing {

/// Runs the hook set_fault_hook() gave, else nothing (one relaxed load).
void fault_point(const char* where) noexcept;
/// Sets the hook fault_point() calls (nullptr: none). Tests only.
void set_fault_hook(void (*hook)(const char* where)) noexcept;

}  // namespace popbox::store::testing
