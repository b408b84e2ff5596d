#!/usr/bin/python3
"""PyTorch side of `make bench`: the workloads of bench/run.lua, written the way a PyTorch
user would write them, one workload per process so its peak RSS is its own.

    /usr/bin/python3 bench/torch_bench.py WORKLOAD THREADS

prints one line of key=value pairs (times in seconds, rss in KB), or
`error=...` when torch cannot be imported.  WORKLOAD is one of
  article   the seed article's loop: 2-64-1 network, BCELoss, SGD lr 0.01, batch 16,
            100 samples, shuffled DataLoader, 1000 epochs = 7000 steps
  mlp       784-512-512-10 ReLU MLP, cross-entropy, SGD momentum 0.9, batch 128, random data
  ops       per-op overhead: a + b on 4x4 tensors, nn.Linear(2, 2) forward on a 1x2 input
  lenet     LeNet-5 on 1x28x28, batch 64, cross-entropy, SGD momentum 0.9: training and
            inference (eval, no_grad) samples/s
  block     3x32x32, conv 3x3 32 + BatchNorm2d + ReLU + max-pool 2, conv 3x3 64 + the same,
            Linear 4096-10, batch 32, cross-entropy, SGD momentum 0.9
  lstm      Embedding(1000, 64), LSTM(64, 128, batch_first), Linear(128, 1000), sequence 35,
            batch 32, cross-entropy, Adam, clip_grad_norm_ 1.0: training tokens/s
  transformer  Embedding(1000, 128), 2-layer TransformerEncoder (d_model 128, 4 heads, ff 512,
            dropout 0.1, batch_first), Linear(128, 1000), sequence 64, batch 16, Adam
"""
import sys
import time


def vm_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def blas_threads(torch):
    """Threads of the matrix products: Debian's torch calls the system BLAS (OpenBLAS here),
    whose own pool follows OPENBLAS_NUM_THREADS (all cores by default), not
    torch.set_num_threads."""
    a = torch.ones(64, 64)
    a @ a                                  # the BLAS library is loaded by now
    with open("/proc/self/maps") as f:
        if "openblas" not in f.read():
            return torch.get_num_threads()
    import os
    env = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    return int(env) if env and env.isdigit() else os.cpu_count()


def main():
    workload = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    try:
        import torch
        import torch.nn as nn
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        print("error=%s" % str(e).replace(" ", "_"))
        return
    torch.set_num_threads(threads)
    out = {"threads": torch.get_num_threads(), "version": torch.__version__,
           "blas_threads": blas_threads(torch)}

    if workload == "article":
        torch.manual_seed(42)
        X = torch.rand(100, 2)
        y = (X.sum(1, keepdim=True) > 1).float()
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y),
                                             batch_size=16, shuffle=True)

        class SimpleClassifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(2, 64)
                self.relu = nn.ReLU()
                self.fc2 = nn.Linear(64, 1)
                self.sigmoid = nn.Sigmoid()
                nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
                nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")

            def forward(self, x):
                x = self.relu(self.fc1(x))
                return self.sigmoid(self.fc2(x))

        model = SimpleClassifier()
        criterion = nn.BCELoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        steps = 0
        t0 = time.perf_counter()
        for _ in range(1000):
            for inputs, labels in loader:
                optimizer.zero_grad()
                loss = criterion(model(inputs), labels)
                loss.backward()
                optimizer.step()
                steps += 1
        out["time"] = time.perf_counter() - t0
        out["steps"] = steps
        out["loss"] = loss.item()

    elif workload == "mlp":
        torch.manual_seed(0)
        batch, nbatches = 128, 16
        xs = [torch.randn(batch, 784) for _ in range(nbatches)]
        ys = [torch.randint(0, 10, (batch,)) for _ in range(nbatches)]
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10))
        criterion = nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(k):
            optimizer.zero_grad()
            loss = criterion(model(xs[k % nbatches]), ys[k % nbatches])
            loss.backward()
            optimizer.step()
            return loss

        for k in range(5):
            step(k)
        # windows of 10 steps for ~2 s; the best window is the figure, as in workloads.lua
        steps, best, t0 = 0, float("inf"), time.perf_counter()
        while True:
            w0 = time.perf_counter()
            for _ in range(10):
                loss = step(steps)
                steps += 1
            best = min(best, time.perf_counter() - w0)
            t = time.perf_counter() - t0
            if t > 2.0:
                break
        out["time"] = t
        out["steps"] = steps
        out["samples_per_s"] = 10 * batch / best
        out["samples_per_s_avg"] = steps * batch / t
        out["loss"] = loss.item()

    elif workload == "ops":
        a, b = torch.rand(4, 4), torch.rand(4, 4)
        lin = nn.Linear(2, 2)
        x = torch.tensor([[1.0, 2.0]])
        window = 5000

        def measure(f):
            """best window of `window` calls over ~1.5 s, and the average (as bench/workloads.lua)"""
            f(window)
            best, total, calls = float("inf"), 0.0, 0
            while total <= 1.5:
                t0 = time.perf_counter()
                f(window)
                dt = time.perf_counter() - t0
                best, total, calls = min(best, dt), total + dt, calls + window
            return best / window * 1e6, total / calls * 1e6

        def adds(n):
            for _ in range(n):
                a + b

        def lins(n):
            for _ in range(n):
                lin(x)

        out["add_us"], out["add_us_avg"] = measure(adds)
        out["linear_us"], out["linear_us_avg"] = measure(lins)
    elif workload in ("lenet", "block"):
        torch.manual_seed(0)
        if workload == "lenet":
            batch, shape = 64, (1, 28, 28)
            model = nn.Sequential(
                nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
        else:
            batch, shape = 32, (3, 32, 32)
            model = nn.Sequential(
                nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(64 * 8 * 8, 10))
        nbatches = 8
        xs = [torch.randn(batch, *shape) for _ in range(nbatches)]
        ys = [torch.randint(0, 10, (batch,)) for _ in range(nbatches)]
        criterion = nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        state = {"k": 0, "loss": None}

        def step():
            state["k"] += 1
            i = state["k"] % nbatches
            optimizer.zero_grad()
            loss = criterion(model(xs[i]), ys[i])
            loss.backward()
            optimizer.step()
            state["loss"] = loss

        def infer():
            state["k"] += 1
            model(xs[state["k"] % nbatches])

        def best_window(f, win, secs, warm):
            """as bench/workloads.lua: the best window's time per call, the average, calls"""
            for _ in range(warm):
                f()
            best, calls, t0 = float("inf"), 0, time.perf_counter()
            while True:
                w0 = time.perf_counter()
                for _ in range(win):
                    f()
                best = min(best, time.perf_counter() - w0)
                calls += win
                if time.perf_counter() - t0 > secs:
                    break
            return best / win, (time.perf_counter() - t0) / calls, calls

        t0 = time.perf_counter()
        train_s, train_avg, steps = best_window(step, 5, 2.0, 5)
        out["time"] = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            inf_s, inf_avg, _ = best_window(infer, 10, 1.0, 3)
        out["steps"] = steps
        out["samples_per_s"] = batch / train_s
        out["samples_per_s_avg"] = batch / train_avg
        out["infer_samples_per_s"] = batch / inf_s
        out["infer_samples_per_s_avg"] = batch / inf_avg
        out["loss"] = state["loss"].item()
    elif workload in ("lstm", "transformer"):
        torch.manual_seed(0)
        vocab = 1000
        if workload == "lstm":
            batch, seq, clip = 32, 35, 1.0
            emb, rnn, head = nn.Embedding(vocab, 64), nn.LSTM(64, 128, batch_first=True), \
                nn.Linear(128, vocab)
            model = nn.ModuleList([emb, rnn, head])

            def forward(x):
                return head(rnn(emb(x))[0])
        else:
            batch, seq, clip = 16, 64, None
            emb = nn.Embedding(vocab, 128)
            enc = nn.TransformerEncoder(
                nn.TransformerEncoderLayer(128, 4, dim_feedforward=512, dropout=0.1,
                                           batch_first=True), 2)
            head = nn.Linear(128, vocab)
            model = nn.ModuleList([emb, enc, head])

            def forward(x):
                return head(enc(emb(x)))
        model.train()
        nbatches = 8
        xs = [torch.randint(0, vocab, (batch, seq)) for _ in range(nbatches)]
        ys = [torch.randint(0, vocab, (batch * seq,)) for _ in range(nbatches)]
        criterion = nn.CrossEntropyLoss()
        params = list(model.parameters())
        optimizer = torch.optim.Adam(params, lr=1e-3)
        state = {"k": 0, "loss": None}

        def step():
            state["k"] += 1
            i = state["k"] % nbatches
            optimizer.zero_grad()
            loss = criterion(forward(xs[i]).reshape(batch * seq, vocab), ys[i])
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            state["loss"] = loss

        for _ in range(5):
            step()
        # windows of 5 steps for ~2 s, the best kept, as bench/workloads.lua
        best, calls, c0, t0 = float("inf"), 0, time.process_time(), time.perf_counter()
        while True:
            w0 = time.perf_counter()
            for _ in range(5):
                step()
            best = min(best, (time.perf_counter() - w0) / 5)
            calls += 5
            if time.perf_counter() - t0 > 2.0:
                break
        t = time.perf_counter() - t0
        out["time"] = t
        out["cpu"] = time.process_time() - c0
        out["steps"] = calls
        out["tokens_per_s"] = batch * seq / best
        out["tokens_per_s_avg"] = batch * seq * calls / t
        out["cpu_tokens_per_s"] = batch * seq * calls / out["cpu"]
        out["loss"] = state["loss"].item()
    else:
        print("error=unknown_workload_%s" % workload)
        return

    out["hwm_kb"] = vm_kb("VmHWM")
    out["rss_kb"] = vm_kb("VmRSS")
    print(" ".join("%s=%s" % (k, v) for k, v in out.items()))


if __name__ == "__main__":
    main()
