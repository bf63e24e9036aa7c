/**
 * Phone numbers as people write them: `+91 98765 43210`, `098765-43210`, `(0)98765 43210`, `0091…`,
 * or ten bare digits of an Indian mobile — normalised to E.164 (`+919876543210`). Without a `+` or
 * `00`, a number is read as Indian (Vobiz numbers are), a national number's leading 0 dropped.
 */
export const DEFAULT_COUNTRY_CODE = '91';

/** The number in E.164, or null when it is not a phone number. */
export function toE164(input: string | null | undefined, countryCode = DEFAULT_COUNTRY_CODE): string | null {
  const raw = (input ?? '').trim().replace(/^tel:/i, '');
  if (!raw || /[^\d\s\-().+/]/.test(raw)) return null;
  const intl = raw.startsWith('+') || raw.startsWith('00');
  let digits = raw.replace(/\D/g, '');
  if (raw.startsWith('00')) digits = digits.slice(2);
  if (!intl) {
    // National forms: a trunk 0, then the subscriber number (10 digits in India).
    digits = digits.replace(/^0+/, '');
    if (digits.length === 10) digits = countryCode + digits;
    else if (!(digits.startsWith(countryCode) && digits.length === countryCode.length + 10)) return null;
  }
  return /^[1-9]\d{6,14}$/.test(digits) ? `+${digits}` : null;
}
