/* SPDX-License-Identifier: MIT */
/*
 * control.c: the .sim control directory (README.md "Control directory"):
 * the write log, fault injection, guest attach/detach, module loading, host
 * configuration changes, the uevent log and the canonical dump.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sim.h"

void buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	*buf = xgrow(*buf, cap, *len + n + 1, 1);
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
}

const char *errno_name(int err)
{
	const char *n = strerrorname_np(err);

	return n ? n : "EUNKNOWN";
}

int errno_from_name(const char *name)
{
	for (int e = 1; e < 200; e++) {
		const char *n = strerrorname_np(e);
		if (n && streq(n, name))
			return e;
	}
	return -1;
}

void control_log_write(struct sim *s, const char *path, const char *buf, size_t len, int r)
{
	char *line = NULL;
	size_t l = 0, cap = 0;

	if (len > 0 && buf[len - 1] == '\n')
		len--;
	buf_append(&line, &l, &cap, path, strlen(path));
	buf_append(&line, &l, &cap, "\t", 1);
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n')
			buf_append(&line, &l, &cap, "\\n", 2);
		else if (buf[i] == '\t')
			buf_append(&line, &l, &cap, "\\t", 2);
		else
			buf_append(&line, &l, &cap, buf + i, 1);
	}
	buf_append(&line, &l, &cap, "\t", 1);
	if (r == 0)
		buf_append(&line, &l, &cap, "0", 1);
	else
		buf_append(&line, &l, &cap, errno_name(-r), strlen(errno_name(-r)));
	buf_append(&line, &l, &cap, "\n", 1);
	buf_append(&s->writes, &s->writes_len, &s->writes_cap, line, l);
	free(line);
}

int control_fault(struct sim *s, const char *path, unsigned *ret_delay_ms)
{
	int r = 0;
	size_t i = 0;
	bool once_fired = false; /* one wdelay rule a write: the next rule that matches waits for the next write */

	*ret_delay_ms = 0;
	while (i < s->n_faults) {
		struct fault *f = &s->faults[i];
		bool fire = false;

		if (f->on_read && !f->delay_ms) {
			/* rfail: reads and listings only */
		} else if (f->delay_ms) {
			if (!f->on_read && !(f->once && once_fired) && fnmatch(f->glob, path, 0) == 0) {
				*ret_delay_ms += f->delay_ms;
				if (f->once) { /* a test that sees it gone knows the write is waiting */
					once_fired = true;
					free(f->glob);
					memmove(f, f + 1, (s->n_faults - i - 1) * sizeof(*f));
					s->n_faults--;
					continue;
				}
			}
		} else if (!f->glob) {
			if (f->after > 0)
				f->after--;
			else
				fire = true;
		} else if (r == 0 && fnmatch(f->glob, path, 0) == 0) {
			fire = true;
		}
		if (fire && r == 0) {
			r = -f->err;
			if (!f->glob || --f->count == 0) {
				free(f->glob);
				memmove(f, f + 1, (s->n_faults - i - 1) * sizeof(*f));
				s->n_faults--;
				continue;
			}
		}
		i++;
	}
	return r;
}

unsigned control_read_delay(struct sim *s, const char *path)
{
	for (size_t i = 0; i < s->n_faults; i++) {
		struct fault *f = &s->faults[i];
		unsigned ms = f->delay_ms;

		if (!f->on_read || !ms || fnmatch(f->glob, path, 0) != 0)
			continue;
		/* once: a test that sees the rule gone knows the read is waiting */
		free(f->glob);
		memmove(f, f + 1, (s->n_faults - i - 1) * sizeof(*f));
		s->n_faults--;
		return ms;
	}
	return 0;
}

int control_read_fault(struct sim *s, const char *path)
{
	for (size_t i = 0; i < s->n_faults; i++) {
		struct fault *f = &s->faults[i];
		int err = f->err;

		if (!f->on_read || f->delay_ms || fnmatch(f->glob, path, 0) != 0)
			continue;
		if (--f->count == 0) {
			free(f->glob);
			memmove(f, f + 1, (s->n_faults - i - 1) * sizeof(*f));
			s->n_faults--;
		}
		return -err;
	}
	return 0;
}

void control_uevent(struct sim *s, const char *action, const char *devpath, const char *subsystem,
		    const char *const *env, const char *vars)
{
	_cleanup_free_ char *head = xasprintf("ACTION=%s\nDEVPATH=%s\nSUBSYSTEM=%s\n", action, devpath, subsystem);
	_cleanup_free_ char *tail = xasprintf("SEQNUM=%llu\n\n", (unsigned long long)++s->seqnum);

	buf_append(&s->uevents, &s->uevents_len, &s->uevents_cap, head, strlen(head));
	for (; env && *env; env++) {
		buf_append(&s->uevents, &s->uevents_len, &s->uevents_cap, *env, strlen(*env));
		buf_append(&s->uevents, &s->uevents_len, &s->uevents_cap, "\n", 1);
	}
	buf_append(&s->uevents, &s->uevents_len, &s->uevents_cap, vars, strlen(vars));
	buf_append(&s->uevents, &s->uevents_len, &s->uevents_cap, tail, strlen(tail));
}

/* ---- the files ------------------------------------------------------------ */

static int writes_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	*ret = xstrdup(s->writes ? s->writes : "");
	return 0;
}

static bool is_zero(const char *buf)
{
	return streq(buf, "0") || streq(buf, "0\n");
}

static int writes_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)len;
	if (!is_zero(buf))
		return -EINVAL;
	s->writes_len = 0;
	if (s->writes)
		s->writes[0] = '\0';
	return 0;
}

static int requests_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	*ret = xasprintf("%llu\n", (unsigned long long)__atomic_load_n(&s->requests, __ATOMIC_RELAXED));
	return 0;
}

static int requests_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)len;
	if (!is_zero(buf))
		return -EINVAL;
	__atomic_store_n(&s->requests, 0, __ATOMIC_RELAXED);
	return 0;
}

static int uevents_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	*ret = xstrdup(s->uevents ? s->uevents : "");
	return 0;
}

static int uevents_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)len;
	if (!is_zero(buf))
		return -EINVAL;
	s->uevents_len = 0;
	if (s->uevents)
		s->uevents[0] = '\0';
	return 0;
}

static int fail_show(struct sim *s, void *obj, char **ret)
{
	char *out = NULL;
	size_t len = 0, cap = 0;

	(void)obj;
	buf_append(&out, &len, &cap, "", 0);
	for (size_t i = 0; i < s->n_faults; i++) {
		const struct fault *f = &s->faults[i];
		_cleanup_free_ char *l = f->delay_ms ? xasprintf("%s %s %u\n", f->on_read ? "rdelay" : f->once ? "wdelay" : "delay", f->glob,
								 f->delay_ms)
				       : f->on_read ? xasprintf("rfail %s %s %u\n", f->glob, errno_name(f->err), f->count)
				       : f->glob    ? xasprintf("%s %s %u\n", f->glob, errno_name(f->err), f->count)
						    : xasprintf("after %u %s\n", f->after, errno_name(f->err));
		buf_append(&out, &len, &cap, l, strlen(l));
	}
	*ret = out;
	return 0;
}

static int parse_uint(const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 0xffffffffUL)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static int fail_line(struct sim *s, char *line)
{
	char *save = NULL;
	char *w[4];
	size_t n = 0;
	struct fault f = { 0 };

	for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == ARRAY_SIZE(w))
			return -EINVAL;
		w[n++] = t;
	}
	if (n == 0)
		return 0;
	if (n == 1 && (streq(w[0], "0") || streq(w[0], "clear"))) {
		for (size_t i = 0; i < s->n_faults; i++)
			free(s->faults[i].glob);
		s->n_faults = 0;
		return 0;
	}
	if (n == 4 && streq(w[0], "rfail")) {
		if ((f.err = errno_from_name(w[2])) < 0 || parse_uint(w[3], &f.count) < 0 || f.count == 0)
			return -EINVAL;
		f.on_read = true;
		f.glob = xstrdup(w[1]);
		goto add;
	}
	if (n != 3)
		return -EINVAL;
	if (streq(w[0], "after")) {
		if (parse_uint(w[1], &f.after) < 0 || (f.err = errno_from_name(w[2])) < 0)
			return -EINVAL;
	} else if (streq(w[0], "delay") || streq(w[0], "rdelay") || streq(w[0], "wdelay")) {
		if (parse_uint(w[2], &f.delay_ms) < 0 || f.delay_ms == 0)
			return -EINVAL;
		f.on_read = streq(w[0], "rdelay");
		f.once = streq(w[0], "wdelay");
		f.glob = xstrdup(w[1]);
	} else {
		if ((f.err = errno_from_name(w[1])) < 0 || parse_uint(w[2], &f.count) < 0 || f.count == 0)
			return -EINVAL;
		f.glob = xstrdup(w[0]);
	}
add:
	s->faults = xgrow(s->faults, &s->cap_faults, s->n_faults + 1, sizeof(*s->faults));
	s->faults[s->n_faults++] = f;
	return 0;
}

static int fail_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	_cleanup_free_ char *copy = strndup(buf, len);
	char *save = NULL;

	(void)obj;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		int r = fail_line(s, l);
		if (r < 0)
			return r;
	}
	return 0;
}

static int guest_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)len;
	return sim_guest(s, buf);
}

static int queue_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)len;
	return sim_queue_state(s, buf);
}

static int modprobe_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)len;
	return sim_modprobe(s, buf);
}

static int hotplug_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)len;
	return sim_hotplug(s, buf);
}

static int dump_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	*ret = sim_dump(s);
	return 0;
}

static const struct attr control_attrs[] = {
	{ "writes", 0644, writes_show, writes_store },
	{ "fail", 0644, fail_show, fail_store },
	{ "guest", 0200, NULL, guest_store },
	{ "queue", 0200, NULL, queue_store },
	{ "modprobe", 0200, NULL, modprobe_store },
	{ "hotplug", 0200, NULL, hotplug_store },
	{ "uevents", 0644, uevents_show, uevents_store },
	{ "requests", 0644, requests_show, requests_store },
	{ "dump", 0444, dump_show, NULL },
};

void control_build(struct sim *s)
{
	struct node *dir = node_mkdir(s->root, ".sim");

	node_add_files(dir, control_attrs, ARRAY_SIZE(control_attrs), NULL);
}
