/**
 * @module
 * Who may join a session, checked when a connect token is minted and again when it is used: the
 * device may have been disabled or deleted in between, and a token outlives neither check.
 */
import type * as devices from '../../db/devices.ts';
import type * as sessions from '../../db/sessions.ts';
import { ApiError } from '../../errors.ts';
import { ParticipantSchema } from '../../schemas/sessions.ts';

export function isDeviceParticipant(participant: string): boolean {
  return participant.startsWith('dev_');
}

/**
 * 403 `participant_not_allowed` unless `participant` may join `session`: a device must be an active
 * device of the organisation (`device`, as just read; undefined when there is none) and on the
 * allow-list when the session has one; a session with an allow-list takes no client labels.
 */
export function requireParticipantAllowed(
  session: sessions.SessionRecord,
  participant: string,
  device: devices.DeviceStanding | undefined,
): void {
  if (!ParticipantSchema.safeParse(participant).success) {
    throw new ApiError('participant_not_allowed', { detail: 'The participant is neither a device id nor a client label.' });
  }
  if (isDeviceParticipant(participant)) {
    // 403 rather than 404: the session exists; it is this participant that may not join it.
    if (!device) {
      throw new ApiError('participant_not_allowed', {
        detail: `No device ${participant} in this organisation.`,
        errors: [{ location: 'body', pointer: '/participant', detail: 'No such device', code: 'not_found' }],
      });
    }
    if (device.status !== 'active') throw new ApiError('participant_not_allowed', { detail: `Device ${participant} is disabled.` });
    if (session.allowedDeviceIds !== null && !session.allowedDeviceIds.includes(participant)) {
      throw new ApiError('participant_not_allowed', { detail: `Device ${participant} is not on this session's allow-list.` });
    }
  } else if (session.allowedDeviceIds !== null) {
    throw new ApiError('participant_not_allowed', { detail: 'This session admits only the devices on its allow-list.' });
  }
}
