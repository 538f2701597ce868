#!/usr/bin/env bash
# The full Fashion-MNIST accuracy run of the example LSTM through the REST
# API (bench/api_accuracy.sh): examples/fmnist-lstm.json (the images read as
# sequences, input [28, 28]: 28 rows of 28 pixels; LSTM 128 on the last
# step, dense 10 softmax) trained with the definition's training object
# (Adam lr 0.001, clip_norm 1.0, batch 64, 10 epochs, seed 42) on the 60,000
# training images, with the 10,000 test images as the job's validation data
# and early stopping off.  Prints every epoch, the test accuracy, the times
# and the daemon's peak RSS; exits 1 when the accuracy is below 0.88 (the
# issue's bound; published: GRU + SVM 0.888).
#
#   TRAIND=./traind        the program
#   THREADS=N              compute threads of the job (default: the daemon's, all cores)
#   FMNIST_DIR=...         where the IDX files are
#   MAX_MINUTES=60         give up (cancel the job, exit 1) after this long
#
# Needs curl and jq (make deps installs both).
exec "$(dirname "$0")/api_accuracy.sh" examples/fmnist-lstm.json 0.88
