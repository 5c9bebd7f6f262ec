import { describe, expect, it } from 'vitest';
import { xmlProblems } from './xml-wellformed.js';

describe('test helper xmlProblems (the SVG well-formedness check)', () => {
  it('accepts well-formed documents', () => {
    expect(xmlProblems('<?xml version="1.0"?>\n<svg a="1" b=\'&amp;&#38;&#x26;\'><g><text>a &lt; b</text></g><rect/><!-- c --></svg>\n')).toEqual([]);
  });
  it.each([
    ['mismatched tags', '<svg><g></svg></g>'],
    ['unclosed element', '<svg><g></svg>'],
    ['two roots', '<svg/><svg/>'],
    ['bare ampersand in text', '<svg><text>a & b</text></svg>'],
    ['unknown entity', '<svg><text>&nbsp;</text></svg>'],
    ['raw < in attribute', '<svg a="<"/>'],
    ['unquoted attribute', '<svg a=1/>'],
    ['duplicate attribute', '<svg a="1" a="2"/>'],
    ['text outside root', 'x<svg/>'],
    ['unterminated comment', '<svg><!-- x</svg>'],
  ])('rejects %s', (_n, xml) => {
    expect(xmlProblems(xml).length).toBeGreaterThan(0);
  });
});
