// A value kept per request stays out of the request's keys and its JSON, on every Node.js.
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { requestSlot, slowPropertyAdds } from './request-slot.js';

function request(): IncomingMessage {
  return new IncomingMessage(new Socket());
}

describe('requestSlot', () => {
  it('gives back the value set on the same object, and nothing for another', () => {
    const slot = requestSlot<{ step: number }>(Symbol('test.slot'));
    const a = request();
    const b = request();
    const value = { step: 1 };
    slot.set(a, value);
    expect(slot.get(a)).toBe(value);
    expect(slot.get(b)).toBeUndefined();
    slot.set(a, { step: 2 });
    expect(slot.get(a)).toEqual({ step: 2 });
  });

  it('leaves the object’s string keys and JSON as they were', () => {
    const slot = requestSlot<string>(Symbol('test.hidden'));
    const target = { id: 'r-1' };
    slot.set(target, 'secret-state');
    expect(Object.keys(target)).toEqual(['id']);
    expect(JSON.stringify(target)).toBe('{"id":"r-1"}');
  });

  it('shares values between slots given the same WeakMap, as copies of a package do', () => {
    const entries = new WeakMap<object, string>();
    const key = Symbol.for('@bulwark/test:shared-slot');
    const first = requestSlot(key, entries);
    const second = requestSlot(key, entries);
    const target = request();
    first.set(target, 'route');
    expect(second.get(target)).toBe('route');
  });

  it('adds no property to the object where adding one is slow, and a symbol one elsewhere', () => {
    const key = Symbol('test.where');
    const slot = requestSlot<number>(key);
    const target = request();
    const before = Reflect.ownKeys(target).length;
    slot.set(target, 7);
    expect(Reflect.ownKeys(target).length).toBe(slowPropertyAdds ? before : before + 1);
    expect(slowPropertyAdds).toBe(Number.parseInt(process.versions.v8, 10) < 13);
  });
});
