/*
 * `saker fleet`: the fleet's coverage from NATS JetStream (docs/fleet.md).
 * No configuration, no probe, no privileges: it only reads the stream.
 */
#ifndef SAKER_APP_FLEET_H
#define SAKER_APP_FLEET_H

/* argv[0] is "fleet". The exit status: 0, or 1 on a usage or connection error. */
int saker_fleet_main(int argc, char **argv);

#endif
