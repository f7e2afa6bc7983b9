// Command-line entry: flags -> options -> commands; the single top-level catch -> exit code.
#pragma once

namespace ferry::cli {
int main(int argc, char** argv);
}
