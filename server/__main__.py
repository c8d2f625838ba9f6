import os
import sys

# torch's OpenMP runtime (libgomp) busy-waits between parallel regions by default. On a machine whose
# cores are shared with other work (GIMP, a browser, other processes) the spinning threads steal the time
# the working ones need: measured with `bench models --models modnet` on 2 busy cores, the MODNet port took
# 2.5× onnxruntime's wall time spinning and 0.67× with passive waiting. libgomp reads this only when torch
# is first imported, hence here, before anything imports it; a value set by the user is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# large arrays reused from the heap instead of fresh zeroed pages for each (see the module); before any
# thread allocates
from server.pipeline.allocator import keep_freed_memory  # noqa: E402

keep_freed_memory()

from server.commands.main import main  # noqa: E402

sys.exit(main())
