# Runs ON THE MICROPYTHON UNIX PORT: a block device backed by a file on the host (the image
# tools/simboard.py keeps), with the extended interface (offsets, erase) that vfs.VfsLfs2
# uses, so the simulated board's flash is LittleFS2 as on an ESP32 and lasts between runs.
_COUNT = 4  # ioctl ops of MicroPython's block device protocol
_SIZE = 5
_ERASE = 6


class FileDev:
    def __init__(self, path, block_size=4096):
        self.f = open(path, "r+b")
        self.bs = block_size
        self.f.seek(0, 2)
        self.blocks = self.f.tell() // block_size

    def readblocks(self, block, buf, offset=0):
        self.f.seek(block * self.bs + offset)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, offset=0):
        self.f.seek(block * self.bs + (offset or 0))
        self.f.write(buf)
        self.f.flush()  # a killed process keeps what it wrote, as flash does

    def ioctl(self, op, arg):
        if op == _COUNT:
            return self.blocks
        if op == _SIZE:
            return self.bs
        if op == _ERASE:
            self.f.seek(arg * self.bs)
            self.f.write(b"\xff" * self.bs)
        return 0


def mount(path, where="/"):
    """Mount the image at `where` (formatting a blank one); "/" replaces the host's files."""
    import vfs

    dev = FileDev(path)
    try:
        fs = vfs.VfsLfs2(dev)
    except OSError:  # blank (all 0xFF) image: format it, as a freshly flashed board does
        vfs.VfsLfs2.mkfs(dev)
        fs = vfs.VfsLfs2(dev)
    if where == "/":
        import os

        vfs.umount("/")
        vfs.mount(fs, "/")
        os.chdir("/")
    else:
        vfs.mount(fs, where)
    return fs
