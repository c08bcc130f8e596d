// A round badge with a person's initials, coloured from their name so people are easy to tell apart.

/** Up to two initials of a name ("Maria Rossi" -> "MR"). */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter((w) => w !== '');
  const first = words[0]?.[0] ?? '?';
  const last = words.length > 1 ? (words[words.length - 1]?.[0] ?? '') : '';
  return (first + last).toUpperCase();
}

const HUES = [211, 152, 28, 340, 262, 190, 8, 96];

function hueOf(name: string): number {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return HUES[hash % HUES.length] ?? 211;
}

/** The avatar of `name`; decorative (the name is always written next to it). */
export function Avatar({ name, size = 'md' }: { name: string; size?: 'sm' | 'md' | 'lg' }) {
  return (
    <span
      className={`avatar avatar-${size}`}
      style={{ backgroundColor: `hsl(${hueOf(name)} 45% 38%)` }}
      aria-hidden="true"
    >
      {initials(name)}
    </span>
  );
}
