// myelin: train, evaluate and run models from the command line.
// Exit status: 0 success, 1 a user error (bad data, bad model file) with a message, 2 a usage error.
#include <cstdio>

#include "cli.hpp"

int main(int argc, char** argv) {
  CLI::App app{"myelin: build, train, evaluate and run neural networks from the command line"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "myelin 0.1.0");
  cli::register_train(app);
  cli::register_evaluate(app);
  cli::register_predict(app);
  cli::register_summary(app);
  cli::register_plot(app);
  cli::register_images_from_idx(app);
  cli::register_explain(app);
  cli::register_export(app);
  cli::register_convert(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const cli::UserError& e) {
    std::fprintf(stderr, "myelin: error: %s\n", e.what());
    return 1;
  } catch (const myelin::Error& e) {
    std::fprintf(stderr, "myelin: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "myelin: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
