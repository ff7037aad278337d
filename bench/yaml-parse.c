/* SPDX-License-Identifier: MIT */
/*
 * yaml-parse FILE: a bare libyaml event parse of FILE, nothing else (the
 * floor that `apmatrix check` is compared with in bench/RESULTS.md).
 * Exits 0 and prints the number of events, or 1 on a YAML error.
 */
#include <stdio.h>
#include <yaml.h>

int main(int argc, char **argv)
{
	yaml_parser_t parser;
	yaml_event_t event;
	unsigned long n = 0;
	FILE *f;
	int done = 0, ok = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: yaml-parse FILE\n");
		return 2;
	}
	f = fopen(argv[1], "re");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	while (!done) {
		if (!yaml_parser_parse(&parser, &event)) {
			fprintf(stderr, "%s:%zu:%zu: %s\n", argv[1], parser.problem_mark.line + 1,
				parser.problem_mark.column + 1, parser.problem ? parser.problem : "YAML error");
			ok = 0;
			break;
		}
		done = event.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&event);
		n++;
	}
	yaml_parser_delete(&parser);
	fclose(f);
	if (ok)
		printf("%lu events\n", n);
	return ok ? 0 : 1;
}
