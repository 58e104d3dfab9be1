#include "clients/loadgen/loadgen_cli.h"

int main(int argc, char** argv) { return crosstenant::loadgen::RunLoadgen(argc, argv); }
