import { describe, expect, it } from 'vitest';
import { VmkeepError } from '../../../src/errors.js';
import { addDuration, parseDuration, subtractDuration } from '../../../src/retention/index.js';
import { at } from './builders.js';

describe('parseDuration', () => {
  it.each([
    ['4h', { hours: 4 }],
    ['3d', { days: 3 }],
    ['2w', { weeks: 2 }],
    ['1m', { months: 1 }],
    ['1y', { years: 1 }],
    ['1d12h', { days: 1, hours: 12 }],
    ['1y6m', { years: 1, months: 6 }],
    ['0d', {}],
  ])('reads %s', (text, parts) => {
    const duration = parseDuration(text);
    expect(duration).toEqual({ years: 0, months: 0, weeks: 0, days: 0, hours: 0, ...parts, text });
    expect(Object.isFrozen(duration)).toBe(true);
  });

  it('normalises the spelling', () => {
    expect(parseDuration(' 03d ').text).toBe('3d');
    expect(parseDuration('0y2d').text).toBe('2d');
  });

  const bad = ['', '3', 'd', '3x', '30min', '-1d', '1.5d', '12h1d', '1d 12h', '3D'];
  it.each(bad)('rejects %j with a one-line usage error', (text) => {
    const error = catchError(() => parseDuration(text, 'keepWithin'));
    expect(error).toBeInstanceOf(VmkeepError);
    expect(error.code).toBe('usage');
    expect(error.message).toContain('keepWithin');
    expect(error.message).not.toContain('\n');
  });
});

describe('calendar arithmetic', () => {
  it('adds a month by the calendar, not as 30 days', () => {
    expect(addDuration(at('2026-01-31T10:00'), parseDuration('1m'))).toEqual(at('2026-02-28T10:00'));
    expect(subtractDuration(at('2026-03-31T10:00'), parseDuration('1m'))).toEqual(at('2026-02-28T10:00'));
  });

  it('combines units', () => {
    expect(addDuration(at('2026-11-01T00:00'), parseDuration('1w1d12h'))).toEqual(at('2026-11-09T12:00'));
  });
});

function catchError(fn: () => unknown): VmkeepError {
  try {
    fn();
  } catch (error) {
    return error as VmkeepError;
  }
  throw new Error('expected a throw');
}
