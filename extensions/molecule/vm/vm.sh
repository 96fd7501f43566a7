#!/usr/bin/env bash
# A Debian 12 VM with systemd as PID 1 for the molecule scenario "vm" (software emulation: KVM is
# not usable on these machines). Everything lives in $MAGLEV_VM_DIR (default /var/tmp/maglev-vm).
#   vm.sh build    debootstrap a base image once (about a minute; kept for later runs)
#   vm.sh start    boot a fresh overlay of it; returns when SSH answers and systemd is up
#   vm.sh stop     stop the VM and drop the overlay
set -euo pipefail
DIR=${MAGLEV_VM_DIR:-/var/tmp/maglev-vm}
PORT=${MAGLEV_VM_SSH_PORT:-2222}
METRICS_PORT=${MAGLEV_VM_METRICS_PORT:-29091}  # the agent's page and /metrics, for verify
mkdir -p "$DIR"
cd "$DIR"
SSH=(ssh -q -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
     -i "$DIR/id_ed25519" -p "$PORT" root@127.0.0.1)

build() {
    [ -f base.raw ] && return 0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86 qemu-utils debootstrap >/dev/null
    [ -f id_ed25519 ] || ssh-keygen -q -t ed25519 -N "" -f id_ed25519
    rm -rf rootfs
    debootstrap --variant=minbase \
        --include=systemd-sysv,dbus,udev,openssh-server,python3,python3-venv,python3-packaging,iproute2,linux-image-cloud-amd64 \
        bookworm rootfs http://deb.debian.org/debian > debootstrap.log 2>&1
    echo maglev-vm > rootfs/etc/hostname
    echo "/dev/vda / ext4 defaults 0 1" > rootfs/etc/fstab
    install -d -m 700 rootfs/root/.ssh
    cp id_ed25519.pub rootfs/root/.ssh/authorized_keys
    mkdir -p rootfs/etc/systemd/network
    printf '[Match]\nName=en* eth*\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\n' \
        > rootfs/etc/systemd/network/10-eth.network
    chroot rootfs systemctl enable systemd-networkd ssh
    cp rootfs/boot/vmlinuz-* vmlinuz
    cp rootfs/boot/initrd.img-* initrd.img
    truncate -s 3G base.raw.tmp
    mkfs.ext4 -q -F -d rootfs base.raw.tmp
    rm -rf rootfs
    mv base.raw.tmp base.raw
}

start() {
    stop
    qemu-img create -q -f qcow2 -F raw -b "$DIR/base.raw" overlay.qcow2
    # restrict=on: the guest reaches nothing outside; only the forwarded SSH port comes in.
    setsid qemu-system-x86_64 -accel tcg -cpu max -m 768 -smp 1 -nographic \
        -kernel vmlinuz -initrd initrd.img -append "root=/dev/vda rw console=ttyS0" \
        -drive file=overlay.qcow2,if=virtio,format=qcow2 \
        -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:22,hostfwd=tcp:127.0.0.1:$METRICS_PORT-:9091" -device virtio-net-pci,netdev=n0 \
        > console.log 2>&1 < /dev/null &
    echo $! > qemu.pid
    for _ in $(seq 150); do
        kill -0 "$(cat qemu.pid)" 2>/dev/null || { tail -20 console.log; echo "vm.sh: qemu exited" >&2; exit 1; }
        # SSH can answer before systemd is up: wait for that too.
        if "${SSH[@]}" 'systemctl is-system-running --wait' >/dev/null 2>&1; then return 0; fi
        sleep 2  # paces the SSH probe of a booting VM (bounded: 150 tries)
    done
    echo "vm.sh: no SSH after 300 s" >&2
    exit 1
}

stop() {
    if [ -f qemu.pid ]; then
        kill "$(cat qemu.pid)" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$(cat qemu.pid)" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$(cat qemu.pid)" 2>/dev/null || true
        rm -f qemu.pid
    fi
    rm -f overlay.qcow2
}

case ${1:-} in
    build) build ;;
    start) start ;;
    stop) stop ;;
    *) echo "usage: vm.sh build|start|stop" >&2; exit 2 ;;
esac
