/**
 * p4c runner, no compiler needed: diagnostics parsed from the verbatim p4c-bm2-ss 1.2.4.8 outputs
 * of docs/p4-target-interfaces.md §7.1, the compile error's message, include collection for the
 * cache key.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { P4cCompileError, collectIncludes, compileP4, formatDiagnostic, parseP4cDiagnostics } from '../../p4/p4c.js';

const SYNTAX = `syn.p4(47):syntax error, unexpected }, expecting ;
    }
    ^
[--Werror=overlimit] error: 1 errors encountered, aborting compilation
`;

const TYPE = `typ.p4(56): [--Werror=type-error] error: 'sm.egress_spec = hdr.ethernet'
    action forward(bit<9> port) { sm.egress_spec = hdr.ethernet; }
                                                 ^
  ---- Actual error:
  typ.p4(18): Cannot cast implicitly type 'header ethernet_h' to type 'bit<9>'
  header ethernet_h {
         ^^^^^^^^^^
  ---- Originating from:
  typ.p4(56): Source expression 'hdr.ethernet' produces a result of type 'header ethernet_h' which cannot be assigned to a left-value with type 'bit<9>'
      action forward(bit<9> port) { sm.egress_spec = hdr.ethernet; }
                                                     ^^^^^^^^^^^^
[--Werror=overlimit] error: 1 errors encountered, aborting compilation
`;

const WARNING = `w2.p4(13): [--Wwarn=mismatch] warning: 8w300: value does not fit in 8 bits
        bit<8> x = 8w300;
                   ^^^^^
`;

const MISSING_FILE = `cc1: fatal error: nothere.p4: No such file or directory
compilation terminated.
[--Werror=I/O error] error: Preprocessor returned exit code 256; aborting compilation
[--Werror=overlimit] error: 1 errors encountered, aborting compilation
`;

const MISSING_INCLUDE = `inc.p4:13:10: fatal error: nofile.h: No such file or directory
   13 | #include "nofile.h"
      |          ^~~~~~~~~~
compilation terminated.
[--Werror=I/O error] error: Preprocessor returned exit code 256; aborting compilation
[--Werror=overlimit] error: 1 errors encountered, aborting compilation
`;

const DEPRECATED = `[--Wwarn=deprecated] warning: .txt format is being deprecated; use .txtpb instead
`;

describe('parseP4cDiagnostics (docs/p4-target-interfaces.md §7.1 verbatim outputs)', () => {
  it('syntax error: file, line, column from the marker, no severity word', () => {
    const d = parseP4cDiagnostics(SYNTAX);
    expect(d).toHaveLength(2);
    expect(d[0]).toMatchObject({ file: 'syn.p4', line: 47, column: 5, severity: 'error', message: 'syntax error, unexpected }, expecting ;', sourceLine: '    }' });
    expect(d[0]!.name).toBeUndefined();
    expect(d[1]).toMatchObject({ severity: 'error', name: 'overlimit', message: '1 errors encountered, aborting compilation' });
    expect(d[1]!.file).toBeUndefined();
  });

  it('type error: name, column, and the indented other locations as notes', () => {
    const d = parseP4cDiagnostics(TYPE);
    expect(d).toHaveLength(2);
    expect(d[0]).toMatchObject({ file: 'typ.p4', line: 56, column: 50, severity: 'error', name: 'type-error', message: "'sm.egress_spec = hdr.ethernet'" });
    expect(d[0]!.notes).toHaveLength(8);
    expect(d[0]!.notes[1]).toContain("typ.p4(18): Cannot cast implicitly type 'header ethernet_h'");
  });

  it('warning', () => {
    expect(parseP4cDiagnostics(WARNING)).toEqual([
      { file: 'w2.p4', line: 13, column: 20, severity: 'warning', name: 'mismatch', message: '8w300: value does not fit in 8 bits', sourceLine: '        bit<8> x = 8w300;', notes: [] },
    ]);
  });

  it('missing input file: cc1 line, a name with a space', () => {
    const d = parseP4cDiagnostics(MISSING_FILE);
    expect(d.map((x) => [x.severity, x.name, x.file])).toEqual([
      ['error', undefined, undefined],
      ['error', 'I/O error', undefined],
      ['error', 'overlimit', undefined],
    ]);
    expect(d[0]!.message).toBe('nothere.p4: No such file or directory');
    expect(d[0]!.notes).toEqual(['compilation terminated.']);
  });

  it('missing include: GCC form with file, line and column', () => {
    const d = parseP4cDiagnostics(MISSING_INCLUDE);
    expect(d[0]).toMatchObject({ file: 'inc.p4', line: 13, column: 10, severity: 'error', message: 'nofile.h: No such file or directory' });
    expect(d[0]!.notes).toHaveLength(3);
    expect(d).toHaveLength(3);
  });

  it('file-less warning', () => {
    expect(parseP4cDiagnostics(DEPRECATED)).toEqual([{ severity: 'warning', name: 'deprecated', message: '.txt format is being deprecated; use .txtpb instead', notes: [] }]);
  });

  it('a source line starting in column 0 is not taken for a header', () => {
    const text = `a.p4(3): [--Werror=type-error] error: bad\nfoo(1): x\n^^^\n`;
    const d = parseP4cDiagnostics(text);
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ line: 3, column: 1, sourceLine: 'foo(1): x' });
  });
});

describe('P4cCompileError', () => {
  it('names the first located error as file:line and counts the others', () => {
    const diags = [...parseP4cDiagnostics(MISSING_FILE), ...parseP4cDiagnostics(TYPE), ...parseP4cDiagnostics(SYNTAX)];
    const e = new P4cCompileError(diags, '', 1, 'prog.p4');
    expect(e.code).toBe('CTO_P4C_COMPILE');
    expect(e.message).toBe("prog.p4: compile failed: typ.p4:56:50: 'sm.egress_spec = hdr.ethernet' (and 1 more error)");
    expect(e.errors.length).toBe(diags.length);
  });

  it('falls back to the first error, then to the exit status', () => {
    expect(new P4cCompileError(parseP4cDiagnostics(MISSING_FILE), MISSING_FILE, 1, 'x.p4').message).toBe('x.p4: compile failed: nothere.p4: No such file or directory');
    expect(new P4cCompileError([], '', 139, 'x.p4').message).toMatch(/exited with 139: \(no output\)/);
  });

  it('formatDiagnostic', () => {
    expect(formatDiagnostic(parseP4cDiagnostics(WARNING)[0]!)).toBe('w2.p4:13:20: warning: 8w300: value does not fit in 8 bits');
  });
});

describe('collectIncludes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctoffload-inc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('follows local and -I includes recursively, skips the compiler’s own', () => {
    mkdirSync(join(dir, 'inc'));
    writeFileSync(join(dir, 'a.p4'), '#include "b.p4"\nA\n');
    writeFileSync(join(dir, 'b.p4'), ' #  include <c.p4>\nB\n');
    writeFileSync(join(dir, 'inc', 'c.p4'), '#include "a.p4"\nC\n'); // a.p4 not beside c.p4 nor under inc: skipped
    const got = collectIncludes('#include <core.p4>\n#include "a.p4"\n', dir, [join(dir, 'inc')]);
    expect(got.map(([p]) => p)).toEqual([join(dir, 'a.p4'), join(dir, 'b.p4'), join(dir, 'inc', 'c.p4')]);
    expect(got[2]![1]).toContain('C');
  });

  it('terminates on include cycles', () => {
    writeFileSync(join(dir, 'x.p4'), '#include "y.p4"\n');
    writeFileSync(join(dir, 'y.p4'), '#include "x.p4"\n');
    expect(collectIncludes('#include "x.p4"', dir, []).map(([p]) => p)).toEqual([join(dir, 'x.p4'), join(dir, 'y.p4')]);
  });
});

describe('compileP4 input checks', () => {
  it('rejects a program name that is a path', async () => {
    await expect(compileP4({ source: '', name: '../x.p4' }, { p4c: process.execPath, cacheDir: false })).rejects.toMatchObject({ code: 'CTO_P4C_INPUT' });
  });

  it('names the missing compiler', async () => {
    await expect(compileP4({ source: '', name: 'x.p4' }, { p4c: '/nonexistent/p4c-bm2-ss' })).rejects.toMatchObject({ code: 'CTO_TOOL_MISSING' });
  });
});
