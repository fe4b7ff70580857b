/**
 * One SQL statement (as the lexer, lib/pg/lexer.ts, cut it) as tokens: words, quoted identifiers,
 * string literals (standard, `E'…'`, dollar-quoted), numbers, single punctuation characters and `::`,
 * and the white space and comments between them. Code that must understand a statement's structure
 * (which token is the table's name, which the index's) reads these tokens: a quoted name that holds
 * `CREATE`, a semicolon or a quote is one `quoted` token, never a keyword. Joining the tokens' texts
 * gives back the statement exactly. Pure.
 * @module
 */

/** One token of a statement. */
export interface Token {
  /**
   * `word`: a keyword or unquoted identifier; `quoted`: a `"…"` identifier; `string`: a literal
   * (`'…'`, `E'…'`, `$tag$…$tag$`, with its prefix); `number`; `op`: one punctuation character, or
   * `::`; `space`: white space and comments; `other`: what no code here reads as a name (`U&"…"`).
   */
  kind: "word" | "quoted" | "string" | "number" | "op" | "space" | "other";
  text: string;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/** The end of a quoted run starting at `i` (the opening quote), with `q` doubled inside; -1 when open. */
function closeQuote(s: string, i: number, q: string, backslash: boolean): number {
  let j = i + 1;
  while (j < s.length) {
    const c = s[j];
    if (backslash && c === "\\") j += 2;
    else if (c === q) {
      if (s[j + 1] === q) j += 2;
      else return j + 1;
    } else j++;
  }
  return -1;
}

/**
 * Cuts `stmt` into tokens. Throws an Error for a quote, dollar quote or comment that does not end
 * (the lexer never cuts such a statement, unless it was unterminated).
 */
export function tokenize(stmt: string): Token[] {
  const out: Token[] = [];
  const s = stmt;
  let i = 0;
  const unterminated = () => new Error("unterminated quote or comment in a statement");
  while (i < s.length) {
    const c = s[i];
    const start = i;
    if (/\s/.test(c)) {
      while (i < s.length && /\s/.test(s[i])) i++;
      out.push({ kind: "space", text: s.slice(start, i) });
    } else if (c === "-" && s[i + 1] === "-") {
      const nl = s.indexOf("\n", i);
      i = nl < 0 ? s.length : nl + 1;
      out.push({ kind: "space", text: s.slice(start, i) });
    } else if (c === "/" && s[i + 1] === "*") {
      let depth = 0;
      while (i < s.length) {
        if (s[i] === "/" && s[i + 1] === "*") {
          depth++;
          i += 2;
        } else if (s[i] === "*" && s[i + 1] === "/") {
          depth--;
          i += 2;
          if (depth === 0) break;
        } else i++;
      }
      if (depth !== 0) throw unterminated();
      out.push({ kind: "space", text: s.slice(start, i) });
    } else if (c === '"') {
      const end = closeQuote(s, i, '"', false);
      if (end < 0) throw unterminated();
      i = end;
      out.push({ kind: "quoted", text: s.slice(start, i) });
    } else if (c === "'") {
      const end = closeQuote(s, i, "'", false);
      if (end < 0) throw unterminated();
      i = end;
      out.push({ kind: "string", text: s.slice(start, i) });
    } else if ((c === "E" || c === "e") && s[i + 1] === "'") {
      const end = closeQuote(s, i + 1, "'", true);
      if (end < 0) throw unterminated();
      i = end;
      out.push({ kind: "string", text: s.slice(start, i) });
    } else if ((c === "U" || c === "u") && s[i + 1] === "&" && (s[i + 2] === "'" || s[i + 2] === '"')) {
      const end = closeQuote(s, i + 2, s[i + 2], false);
      if (end < 0) throw unterminated();
      i = end;
      out.push({ kind: s[start + 2] === "'" ? "string" : "other", text: s.slice(start, i) });
    } else if (/[BbXxNn]/.test(c) && s[i + 1] === "'") {
      const end = closeQuote(s, i + 1, "'", false);
      if (end < 0) throw unterminated();
      i = end;
      out.push({ kind: "string", text: s.slice(start, i) });
    } else if (c === "$" && DOLLAR_TAG.test(s.slice(i, i + 64))) {
      const tag = s.slice(i).match(DOLLAR_TAG)![0];
      const end = s.indexOf(tag, i + tag.length);
      if (end < 0) throw unterminated();
      i = end + tag.length;
      out.push({ kind: "string", text: s.slice(start, i) });
    } else if (WORD_START.test(c)) {
      while (i < s.length && WORD_CHAR.test(s[i])) i++;
      out.push({ kind: "word", text: s.slice(start, i) });
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(s[i + 1] ?? ""))) {
      while (i < s.length && /[0-9A-Za-z_.]/.test(s[i])) {
        if (s[i] === "." && s[i + 1] === ".") break;
        i++;
      }
      out.push({ kind: "number", text: s.slice(start, i) });
    } else if (c === ":" && s[i + 1] === ":") {
      i += 2;
      out.push({ kind: "op", text: "::" });
    } else {
      i++;
      out.push({ kind: "op", text: c });
    }
  }
  return out;
}

/** The tokens of `stmt` without white space and comments; undefined when it does not tokenize. Pure. */
export function solidTokens(stmt: string): Token[] | undefined {
  try {
    return tokenize(stmt).filter((x) => x.kind !== "space");
  } catch {
    return undefined;
  }
}

/** The name a `word` or `quoted` token stands for: unquoted words folded to lower case. */
export function tokenName(t: Token): string | undefined {
  if (t.kind === "word") return t.text.replace(/[A-Z]+/g, (c) => c.toLowerCase());
  if (t.kind === "quoted") return t.text.slice(1, -1).replaceAll('""', '"');
  return undefined;
}

/** Whether `t` is the keyword `word` (an unquoted word, any case); a quoted name never is. */
export function isKeyword(t: Token | undefined, word: string): boolean {
  return t?.kind === "word" && t.text.toLowerCase() === word;
}

/**
 * The value of a string token: `'…'` (quotes doubled), `E'…'` (with backslash escapes), without a
 * prefix; undefined for other literals (dollar-quoted, `U&'…'`, bit strings).
 */
export function stringValue(t: Token): string | undefined {
  if (t.kind !== "string") return undefined;
  if (t.text.startsWith("'")) return t.text.slice(1, -1).replaceAll("''", "'");
  if (/^[Ee]'/.test(t.text)) {
    const body = t.text.slice(2, -1);
    let out = "";
    for (let i = 0; i < body.length; i++) {
      const c = body[i];
      if (c === "'" && body[i + 1] === "'") {
        out += "'";
        i++;
      } else if (c !== "\\") out += c;
      else {
        const n = body[++i];
        const simple: Record<string, string> = { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f" };
        if (n in simple) out += simple[n];
        else if (/[0-7]/.test(n)) return undefined;
        else if (n === "x" || n === "u" || n === "U") return undefined;
        else out += n;
      }
    }
    return out;
  }
  return undefined;
}
