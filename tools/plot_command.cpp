// `myelin plot`: draw a training history (loss and metrics per epoch, train and validation) as a
// PNG with gnuplot, one panel per quantity.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli.hpp"

namespace cli {

namespace {
struct PlotArgs {
  std::string history, output;
};

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream s(line);
  for (std::string c; std::getline(s, c, ',');) cells.push_back(c);
  return cells;
}

// gnuplot strings are single-quoted; a quote inside is doubled.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

void plot(const PlotArgs& a) {
  std::ifstream in(a.history);
  if (!in) throw UserError("cannot read '" + a.history + "'");
  std::string header;
  std::getline(in, header);
  const auto columns = split(header);
  if (columns.size() < 2 || columns[0] != "epoch")
    throw UserError("'" + a.history + "' line 1: expected a history header 'epoch,<quantity>,...', got '" + header + "'");
  // Panels: each quantity with its val_ twin.
  std::map<std::string, std::vector<size_t>> panels;
  for (size_t i = 1; i < columns.size(); ++i) {
    const std::string& c = columns[i];
    panels[c.rfind("val_", 0) == 0 ? c.substr(4) : c].push_back(i);
  }
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0)
    throw UserError("gnuplot is not installed (Debian: apt-get install gnuplot-nox)");

  const std::string script_path = a.output + ".gnuplot";
  {
    std::ofstream g(script_path);
    g << "set terminal pngcairo size 640," << 320 * panels.size() << " noenhanced\n";
    g << "set output " << quoted(a.output + ".tmp.png") << "\n";
    g << "set datafile separator ','\nset key outside right\nset grid\nset xlabel 'epoch'\n";
    g << "set multiplot layout " << panels.size() << ",1\n";
    for (const auto& [name, cols] : panels) {
      g << "set title " << quoted(name) << "\nplot ";
      for (size_t j = 0; j < cols.size(); ++j)
        g << (j ? ", " : "") << quoted(a.history) << " using ($1+1):" << cols[j] + 1
          << " skip 1 with linespoints title " << quoted(columns[cols[j]]);
      g << "\n";
    }
    g << "unset multiplot\n";
  }
  const int rc = std::system(("gnuplot " + quoted(script_path) + " 2>&1").c_str());
  std::filesystem::remove(script_path);
  if (rc != 0) {
    std::filesystem::remove(a.output + ".tmp.png");
    throw UserError("gnuplot failed to draw '" + a.history + "'");
  }
  // gnuplot wrote a temporary; the rename keeps an earlier picture whole until the new one is.
  std::filesystem::rename(a.output + ".tmp.png", a.output);
  std::printf("wrote %s\n", a.output.c_str());
}
}  // namespace

void register_plot(CLI::App& app) {
  auto a = std::make_shared<PlotArgs>();
  auto* cmd = app.add_subcommand("plot", "draw loss and metrics per epoch from a history CSV as a PNG");
  cmd->add_option("history", a->history, "history CSV written by `myelin train`")->required()->check(CLI::ExistingFile);
  cmd->add_option("--output", a->output, "PNG file to write")->required();
  cmd->callback([a] { plot(*a); });
}

}  // namespace cli
