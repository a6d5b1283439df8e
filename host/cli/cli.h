/* cli.h -- subcommands of the `gliner` command; each takes (argc, argv) with argv[0] = its name
   and returns the process exit code (0 ok, 1 bad input/failure, 2 bad usage). */
#pragma once
int cli_info(int argc, char** argv);
int cli_version(int argc, char** argv);
int cli_convert(int argc, char** argv);
int cli_predict(int argc, char** argv);
int cli_tokenize(int argc, char** argv);
int cli_train(int argc, char** argv);
int cli_init(int argc, char** argv);
