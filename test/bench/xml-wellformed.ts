// A small strict XML well-formedness checker for the suite's SVG charts (no parser dependency):
// one root element, properly nested and matched tags, quoted and unique attributes, no raw '<' or
// '&' outside markup except in valid entity/character references, comments, CDATA and PIs
// closed. Returns the problems found (empty = well-formed) with their byte offsets.

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;
const ENTITY = /^&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/;

function checkText(s: string, base: number, errs: string[]): void {
  for (let i = s.indexOf('&'); i >= 0; i = s.indexOf('&', i + 1)) {
    if (!ENTITY.test(s.slice(i))) errs.push(`@${base + i}: bare '&' or unknown entity`);
  }
  const lt = s.indexOf('<');
  if (lt >= 0) errs.push(`@${base + lt}: raw '<' in text`);
}

export function xmlProblems(xml: string): string[] {
  const errs: string[] = [];
  const stack: string[] = [];
  let roots = 0;
  let i = 0;
  if (xml.startsWith('<?xml')) {
    const end = xml.indexOf('?>');
    if (end < 0) return ['unterminated XML declaration'];
    i = end + 2;
  }
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    if (stack.length === 0 && text.trim() !== '') errs.push(`@${i}: text outside the root element`);
    checkText(text, i, errs);
    if (lt < 0) break;
    i = lt;
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i + 4);
      if (end < 0) return [...errs, `@${i}: unterminated comment`];
      if (xml.slice(i + 4, end).includes('--')) errs.push(`@${i}: '--' inside a comment`);
      i = end + 3;
      continue;
    }
    if (xml.startsWith('<![CDATA[', i)) {
      const end = xml.indexOf(']]>', i);
      if (end < 0) return [...errs, `@${i}: unterminated CDATA`];
      if (stack.length === 0) errs.push(`@${i}: CDATA outside the root element`);
      i = end + 3;
      continue;
    }
    if (xml.startsWith('<?', i)) {
      const end = xml.indexOf('?>', i);
      if (end < 0) return [...errs, `@${i}: unterminated processing instruction`];
      i = end + 2;
      continue;
    }
    if (xml.startsWith('<!', i)) return [...errs, `@${i}: DOCTYPE/declarations are not expected in a chart`];
    const closing = xml[i + 1] === '/';
    let j = i + (closing ? 2 : 1);
    const name = NAME.exec(xml.slice(j))?.[0];
    if (!name) return [...errs, `@${i}: bad tag name`];
    j += name.length;
    if (closing) {
      while (/\s/.test(xml[j] ?? '')) j++;
      if (xml[j] !== '>') return [...errs, `@${j}: expected '>' after </${name}`];
      const open = stack.pop();
      if (open !== name) errs.push(`@${i}: </${name}> closes <${open ?? 'nothing'}>`);
      i = j + 1;
      continue;
    }
    const seen = new Set<string>();
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(j))![0].length;
      j += ws;
      if (xml.startsWith('/>', j) || xml[j] === '>') break;
      if (ws === 0) return [...errs, `@${j}: attributes must be separated by whitespace`];
      const an = NAME.exec(xml.slice(j))?.[0];
      if (!an) return [...errs, `@${j}: bad attribute name in <${name}>`];
      if (seen.has(an)) errs.push(`@${j}: duplicate attribute ${an} in <${name}>`);
      seen.add(an);
      j += an.length;
      const eq = /^\s*=\s*/.exec(xml.slice(j));
      if (!eq) return [...errs, `@${j}: attribute ${an} without a value`];
      j += eq[0].length;
      const q = xml[j];
      if (q !== '"' && q !== "'") return [...errs, `@${j}: unquoted value of ${an}`];
      const end = xml.indexOf(q, j + 1);
      if (end < 0) return [...errs, `@${j}: unterminated value of ${an}`];
      checkText(xml.slice(j + 1, end), j + 1, errs);
      j = end + 1;
    }
    const selfClosing = xml.startsWith('/>', j);
    if (stack.length === 0) roots++;
    if (!selfClosing) stack.push(name);
    i = j + (selfClosing ? 2 : 1);
  }
  if (stack.length > 0) errs.push(`unclosed <${stack.join('> <')}>`);
  if (roots !== 1) errs.push(`expected exactly one root element, found ${roots}`);
  return errs;
}
