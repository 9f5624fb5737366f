/** A page's tab strip (role="tablist"): one button per [id, label], the selected one marked.
 *  `block` names the BEM block of the page's own styles (`${block}__tab`, `${block}__tab--active`). */
export function Tabs<T extends string>({
  tabs,
  value,
  onChange,
  label,
  block,
}: {
  tabs: readonly (readonly [T, string])[];
  value: T;
  onChange: (tab: T) => void;
  label: string;
  block: string;
}) {
  return (
    <div className={block} role="tablist" aria-label={label}>
      {tabs.map(([id, text]) => (
        <button
          key={id}
          type="button"
          role="tab"
          aria-selected={value === id}
          className={`${block}__tab${value === id ? ` ${block}__tab--active` : ""}`}
          onClick={() => onChange(id)}
        >
          {text}
        </button>
      ))}
    </div>
  );
}
