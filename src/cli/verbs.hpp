#pragma once
// Each verb of the popbox binary lives in its own file and registers itself
// here. A verb's callback stores its exit code (sysexits.h values) in `rc`.

namespace CLI {
class App;
}

namespace popbox::cli {

void add_serve(CLI::App& app, int& rc);
void add_check(CLI::App& app, int& rc);
void add_user(CLI::App& app, int& rc);
void add_fetch(CLI::App& app, int& rc);
void add_deliver(CLI::App& app, int& rc);
void add_bench(CLI::App& app, int& rc);
void add_uidl(CLI::App& app, int& rc);
void add_who(CLI::App& app, int& rc);
void add_kick(CLI::App& app, int& rc);
void add_mailbox(CLI::App& app, int& rc);
void add_expunge(CLI::App& app, int& rc);
void add_reload(CLI::App& app, int& rc);
void add_sandbox(CLI::App& app, int& rc);
void add_db(CLI::App& app, int& rc);
void add_migrate(CLI::App& app, int& rc);

}  // namespace popbox::cli
