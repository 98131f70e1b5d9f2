import { ManagerError, grpcCode, isKind, notFound, alreadyExists, invalidArgument, failedPrecondition, conflict, notImplemented, unavailable, aborted } from '../src/core/errors';

describe('manager errors', () => {
  it('map to the gRPC codes containerd clients expect', () => {
    expect([notFound, alreadyExists, invalidArgument, failedPrecondition, conflict, notImplemented, unavailable, aborted].map((f) => grpcCode(f('x')))).toEqual([5, 6, 3, 9, 9, 12, 14, 10]);
  });
  it('map anything else to Unknown', () => {
    expect(grpcCode(new Error('boom'))).toBe(2);
    expect(grpcCode('nope')).toBe(2);
  });
  it('keep their kind and message', () => {
    const err = notFound('image "busybox" not found');
    expect(err).toBeInstanceOf(ManagerError);
    expect(err.message).toBe('image "busybox" not found');
    expect(isKind(err, 'NotFound')).toBe(true);
    expect(isKind(err, 'AlreadyExists')).toBe(false);
    expect(isKind(new Error('x'), 'NotFound')).toBe(false);
  });
});
