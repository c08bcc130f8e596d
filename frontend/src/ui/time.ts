// How times read in the app: "14:05" for today, "Tue 14:05" this week, "3 Mar" before; and
// "just now" / "5 min ago" for the inbox. Always in the viewer's own time zone and locale.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** A message or session time: clock time today, weekday and time this week, else the date. */
export function formatClock(iso: string, now: Date = new Date()): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const time = date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (sameDay(date, now)) return time;
  if (now.getTime() - date.getTime() < 6 * DAY) {
    return `${date.toLocaleDateString(undefined, { weekday: 'short' })} ${time}`;
  }
  return date.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

/** How long ago: "just now", "5 min ago", "3 h ago", then the clock format. */
export function formatAgo(iso: string, now: Date = new Date()): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const elapsed = now.getTime() - date.getTime();
  if (elapsed < MINUTE) return 'just now';
  if (elapsed < HOUR) return `${Math.floor(elapsed / MINUTE)} min ago`;
  if (elapsed < 12 * HOUR) return `${Math.floor(elapsed / HOUR)} h ago`;
  return formatClock(iso, now);
}

/** The full date and time, for `title` and `dateTime` attributes. */
export function formatFull(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
