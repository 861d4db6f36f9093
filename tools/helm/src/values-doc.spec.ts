import {
  danglingParams,
  parseValuesDoc,
  renderParamTable,
  undocumentedPaths,
  updateReadme,
  TABLE_END,
  TABLE_START,
} from './values-doc';

const VALUES = `
## @section Things

## @param a Top-level a
a: 1
b:
  ## @param b.c Nested | with a pipe
  c: "x"
  d: true
## @param map A map documented as a whole
map:
  k: v
## @param gone Names nothing
`;

describe('values documentation', () => {
  const doc = parseValuesDoc(VALUES);

  it('reads sections and params', () => {
    expect(doc.params).toEqual([
      { path: 'a', description: 'Top-level a', section: 'Things' },
      { path: 'b.c', description: 'Nested | with a pipe', section: 'Things' },
      { path: 'map', description: 'A map documented as a whole', section: 'Things' },
      { path: 'gone', description: 'Names nothing', section: 'Things' },
    ]);
  });

  it('finds undocumented values and params without a value', () => {
    expect(undocumentedPaths(doc)).toEqual(['b.d']);
    expect(danglingParams(doc)).toEqual(['gone']);
  });

  it('renders a table per section with escaped pipes and JSON defaults', () => {
    expect(renderParamTable(doc)).toBe(
      [
        '### Things',
        '',
        '| Name | Description | Default |',
        '| --- | --- | --- |',
        '| `a` | Top-level a | `1` |',
        '| `b.c` | Nested \\| with a pipe | `"x"` |',
        '| `map` | A map documented as a whole | `{"k":"v"}` |',
        '| `gone` | Names nothing | `null` |',
      ].join('\n'),
    );
  });

  it('replaces only the block between the markers', () => {
    const readme = `# Chart\n\n${TABLE_START}\nold\n${TABLE_END}\n\nfooter\n`;
    expect(updateReadme(readme, 'NEW')).toBe(`# Chart\n\n${TABLE_START}\n\nNEW\n\n${TABLE_END}\n\nfooter\n`);
    expect(() => updateReadme('# no markers', 'x')).toThrow(/parameters:start/);
  });
});
